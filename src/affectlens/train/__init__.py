"""The training kit (extra ``[train]``: ``pip install 'affectlens[train]'``): datasets, augmentation, losses, trainer,
metrics and export. Runtime code never imports this package."""

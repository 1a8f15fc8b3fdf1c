"""``python -m deblur_cli``: the same command line as ``stfan-deblur``, where no console script is installed."""

from .cli import main

if __name__ == "__main__":
    main()

"""Entry point: ``python cli.py {fit,validate,test,predict} --config conf/...yaml``."""

from mist_pl.cli import main

if __name__ == "__main__":
    main()

from mist_pl.eval.cli import main

main()

from mist_pl.diagnostics.cli import main

main()

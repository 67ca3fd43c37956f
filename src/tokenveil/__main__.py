from tokenveil.cli import main

main()

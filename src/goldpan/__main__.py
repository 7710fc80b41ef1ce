from goldpan.cli import main

main()

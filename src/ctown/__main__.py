from ctown.cli import main

main()

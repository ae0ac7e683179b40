from stategate.cli import main

main()

from dream.cli.main import main

main()

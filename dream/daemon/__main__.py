from dream.daemon.main import main

main()

from imagelock.cli import main

main()

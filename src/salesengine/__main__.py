from salesengine.cli.main import run

run()

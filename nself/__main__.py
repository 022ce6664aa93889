from nself.cli import program

program.run()

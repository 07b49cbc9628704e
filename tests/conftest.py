pytest_plugins = ["tests.dbfixtures", "tests.appfixtures"]

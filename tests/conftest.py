pytest_plugins = [
    "tests.dbfixtures",
    "tests.appfixtures",
    "tests.fakeindex.plugin",
    "tests.fakegithub.plugin",
]

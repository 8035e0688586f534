from hvfuzz.fuzz import profiles

profiles.load()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: run by tox -e slow (CI runs it after tox -e py), not the README's "
                                       "test line; plain pytest runs everything")

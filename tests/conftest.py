from hvfuzz.fuzz import profiles

profiles.load()

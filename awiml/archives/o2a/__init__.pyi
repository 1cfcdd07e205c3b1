# Public names of awiml.archives.o2a, loaded on first use (SPEC 1). None yet:
# PlatformSource arrives with issue 14.
__all__: list[str] = []

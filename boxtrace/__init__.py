import os.path as _path

__version__ = "0.1.0"

# In a source checkout this folder is only the top of the package: pyproject.toml's package-dir maps
# boxtrace.tracer, .runtime, .lessons and .tui to the folders beside it. Python finds this folder
# first whenever it runs in the checkout (sys.path[0] is the current directory; pytest puts the
# checkout there too), so let the subpackages resolve to those folders. Installed, they sit in this
# folder and this is one stat. (os.path is loaded at every interpreter start: the import is free.)
if not _path.isdir(_path.join(__path__[0], "tracer")):
    __path__.append(_path.dirname(__path__[0]))

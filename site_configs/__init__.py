"""Site configurations: the YAML a center writes, its schema and its loader."""

from .loader import SiteConfigError, bundled_site, installed_site, load_site
from .schema import Site

__all__ = ["Site", "SiteConfigError", "bundled_site", "installed_site", "load_site"]

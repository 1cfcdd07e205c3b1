from .clusters import PROFILES as PROFILES
from .clusters import hpc_cluster as hpc_cluster
from .clusters import load_profile as load_profile
from .clusters import local_cluster as local_cluster

#!version:1.0.0.1
include:config "805e0c1d654e.cfg"
overwrite_mode = 1

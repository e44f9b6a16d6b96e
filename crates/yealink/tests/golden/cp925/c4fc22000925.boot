#!version:1.0.0.1
include:config "y000000000148.cfg"
include:config "c4fc22000925.cfg"
overwrite_mode = 1

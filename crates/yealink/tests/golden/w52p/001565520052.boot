#!version:1.0.0.1
include:config "y000000000025.cfg"
include:config "001565520052.cfg"
overwrite_mode = 1

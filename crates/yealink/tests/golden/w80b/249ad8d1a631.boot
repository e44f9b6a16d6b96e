#!version:1.0.0.1
include:config "y000000000103.cfg"
include:config "249ad8d1a631.cfg"
overwrite_mode = 1

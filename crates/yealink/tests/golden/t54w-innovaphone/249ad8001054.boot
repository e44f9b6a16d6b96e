#!version:1.0.0.1
include:config "y000000000096.cfg"
include:config "249ad8001054.cfg"
overwrite_mode = 1

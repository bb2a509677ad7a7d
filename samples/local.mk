# samples: launch scripts a user copies.
dist_samples_SCRIPTS += samples/sim-enumerate.sh samples/setup.sh samples/main-job.sh

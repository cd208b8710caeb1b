"""Pull-request clones of production: ``clone_prod``, ``drop_prod_clone`` and the sweeper."""

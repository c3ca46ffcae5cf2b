"""What the processes of one deployment share through Redis: the lease that makes one of them the
watcher of a swarm (``lease``)."""

"""The live sockets: the swarm model and task logs over websockets, and their wire protocol."""

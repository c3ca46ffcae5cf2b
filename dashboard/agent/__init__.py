"""The node agent (``manage.py agent``): one per node, it reads its own daemon and tells the dashboard
what only that node's daemon knows (container events, health, resource use)."""

"""The pages and their views: the grid, the wall, a task, the secrets, the JSON API and the health checks."""

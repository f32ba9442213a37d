"""The cache of the API processes: per process (SimpleCache) or shared (Redis), emptied for
every process by a restore (the Generacion_Cache row)."""

import time

import flask_caching
from flask import current_app
from mysql.connector import errors

from db import query_one

GENERATION_CHECK_S = 1.0


class Cache(flask_caching.Cache):
    """flask-caching's Cache with its keys under the generation of Generacion_Cache.

    `flask --app app restaurar` deletes the generation while it replaces the data and writes a
    new one when done; each process re-reads it at most once per GENERATION_CHECK_S, uses no
    cache while there is none, and never again reads what it cached under an older one. So a
    restore flushes the per-process SimpleCache of every worker without a query per request.
    """

    def _key(self, key):
        state = current_app.extensions.setdefault("generacion_cache", [None, float("-inf")])
        now = time.monotonic()
        if now - state[1] >= GENERATION_CHECK_S:
            try:
                row = query_one("SELECT Generacion FROM Generacion_Cache WHERE ID = 1")
            except errors.ProgrammingError:
                row = None
            generation = row and row["Generacion"]
            if generation != state[0] and current_app.config["CACHE_TYPE"] == "SimpleCache":
                # Unreachable under the new keys anyway; cleared to free the memory now.
                self.cache.clear()
            state[:] = [generation, now]
        return None if state[0] is None else f"g{state[0]}:{key}"

    def get(self, key):
        key = self._key(key)
        return None if key is None else super().get(key)

    def set(self, key, value, timeout=None):
        key = self._key(key)
        return False if key is None else super().set(key, value, timeout=timeout)

    def delete(self, key):
        key = self._key(key)
        return False if key is None else super().delete(key)


# Rows that every authenticated user may read alike, and history bodies that are the same for
# every reader allowed to see them (served only after that reader's own check), never a
# response of one user; SimpleCache is per process (a history key carries its version, so a
# write reaches every worker at once; other rows live briefly, or use CACHE_REDIS_URL).
cache = Cache()

"""A field-phone simulator: N helpers' phones for D days against a running Huhuqing server.

``scripts/field_sim.py`` is the command line; ``run.run_simulation`` is the entry point tests
import. The pieces: ``http`` (one phone's connection, retries and counts), ``media`` (photos
made with Pillow), ``answers`` (survey answers from the prefilled form), ``plan`` (who visits
which household when, where the phone says it is, and which visits are faked), ``phone`` (one
helper's day: online submits, the offline queue, replays), ``reports`` (villagers' reports) and
``run`` (setup, the thread pool and the summary).
"""

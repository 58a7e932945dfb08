"""The bundled demo (`framewise demo`) and the deterministic sample media it runs on."""

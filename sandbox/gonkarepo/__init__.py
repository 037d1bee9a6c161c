"""gonkarepo: builds a bare git repo standing in for gonka-ai/gonka (deploy/join + genesis).

    python3 -m gonkarepo build DEST.git   -> prints `COMMIT <sha> REF main` last
"""

"""The hub: the export format, writing and verifying exports, the index, model
cards, loading, downloading and `create_model`.

    bundle      the export format: file names, ids, hashes, metadata, verification
    files       crash-safe writes, locks and staging folders
    export      export_model: SavedModel, .keras, connectivity, metadata, card
    cards       model cards
    index       index.json, list_models, finding an export on this machine
    zoo         load, create_model, download, pack (a mirror)
    archive     a mirror's <id>.tar.gz: written deterministically, unpacked with limits
    transfer    fetching a URL within one deadline and a byte cap
"""

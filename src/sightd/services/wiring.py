"""The one place that builds sightd's services from `Settings`.

The HTTP app's lifespan, `sightd ask`, `sightd inspect` and the tests all call
`open_services`, so a one-shot answer on the command line goes through exactly the objects a
request does (spatial answers and the video cache included), and a new service is wired once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from sightd.engine.loading import EngineHandle
from sightd.media.probe import probe_file
from sightd.services.files import FileService
from sightd.services.generate import GenerateService
from sightd.services.interactions import InteractionService
from sightd.services.materialize import Materializer, decode_budget_for
from sightd.services.models import ModelCatalog
from sightd.services.observe import NULL_OBSERVER, Observer
from sightd.services.recovery import InteractionLeases, new_replica_id
from sightd.services.spatial import SpatialService
from sightd.services.video import VideoPipeline
from sightd.settings import Settings
from sightd.storage.blobs import BlobStore, LocalBlobStore
from sightd.storage.db import create_db, init_schema
from sightd.storage.interactions import InteractionStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request (or a CLI command) may use, built and started together."""

    settings: Settings
    db: Engine
    files: FileService
    engine: EngineHandle
    catalog: ModelCatalog
    video: VideoPipeline
    materializer: Materializer
    generate: GenerateService
    interactions: InteractionService


def make_blob_store(settings: Settings) -> BlobStore:
    """The blob store `settings.blob_store` names (S3: client from the AWS credential chain)."""
    if settings.blob_store == "local":
        return LocalBlobStore(settings.blob_dir)
    if not settings.s3_bucket:
        raise ValueError("--blob-store s3 needs --s3-bucket (SIGHTD_S3_BUCKET)")
    from sightd.storage.s3 import S3BlobStore, make_client

    return S3BlobStore(
        make_client(settings.s3_endpoint_url, settings.s3_region),
        settings.s3_bucket,
        prefix=settings.s3_prefix,
        work_dir=settings.data_dir / "s3",
        part_bytes=settings.s3_part_bytes,
        cache_max_bytes=settings.s3_cache_max_bytes,
    )


@asynccontextmanager
async def open_services(
    settings: Settings,
    engine: EngineHandle | None = None,
    *,
    start_engine: bool = True,
    observer: Observer = NULL_OBSERVER,
) -> AsyncIterator[Services]:
    """Build and start the services; stop them on exit.

    `engine`: share an already-loaded model (tests) instead of loading `settings.model`; it is
    then left running on exit. `start_engine=False` builds without loading any model
    (`sightd inspect`). `observer` hears tokens and decode times (the app's `/metrics`).
    """
    db = create_db(settings.effective_database_url)
    await asyncio.to_thread(init_schema, db)
    decode_budget = decode_budget_for(settings)  # shared by generation and file processing
    # One name per process for every lease it takes (file processing, upload holds, background
    # interactions), so a replica that died is recognised the same way everywhere.
    replica = settings.replica_id or new_replica_id()
    stable_replica = settings.replica_id is not None
    files = FileService(
        settings,
        db,
        partial(
            probe_file, max_image_pixels=settings.max_image_pixels, decode_budget=decode_budget
        ),
        blobs=make_blob_store(settings),
        replica=replica,
        stable_replica=stable_replica,
    )
    own_engine = engine is None
    handle = engine or EngineHandle(settings)
    if own_engine and start_engine:
        handle.start()
    catalog = ModelCatalog(settings.model)
    video = VideoPipeline(settings)
    files.on_delete.append(video.forget)
    materializer = Materializer(settings, files, video, decode_budget, observer)
    generate = GenerateService(
        handle, catalog, materializer, SpatialService(settings), observer=observer
    )
    services = Services(
        settings=settings,
        db=db,
        files=files,
        engine=handle,
        catalog=catalog,
        video=video,
        materializer=materializer,
        generate=generate,
        interactions=InteractionService(
            InteractionStore(
                db,
                ttl_s=settings.interaction_ttl_s,
                max_count=settings.max_stored_interactions_per_key,
                max_bytes=settings.interaction_storage_quota_bytes,
                replica=replica,
                lease_s=settings.interaction_lease_s,
            ),
            generate,
            sweep_interval_s=settings.sweep_interval_s,
        ),
    )
    leases = InteractionLeases(services.interactions.store, stable_replica=stable_replica)
    await files.start()
    await leases.start()
    services.interactions.start()
    try:
        yield services
    finally:
        await services.interactions.stop()  # the app's lifespan drained them before (if any)
        await leases.stop()
        await files.stop()
        materializer.urls.close()
        if own_engine:
            await handle.aclose()
        db.dispose()

//! Creating the cluster's streams and bucket, or checking the existing ones.

use async_nats::jetstream;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::{self, DiscardPolicy, Republish, RetentionPolicy, StorageType};

use crate::bounded::Link;
use crate::config::BusConfig;
use crate::error::BusError;
use crate::subjects::Names;

/// The handles [`ensure`] found or made.
pub(crate) struct Assets {
    pub(crate) log: stream::Stream,
    pub(crate) reports: stream::Stream,
    /// The bucket's backing stream (`KV_FAXNOTIFY_SESSIONS`).
    pub(crate) sessions: stream::Stream,
}

/// Finds or creates the log, the reports stream and the sessions bucket.
///
/// Existing assets are used when the settings the guarantees depend on
/// match (subjects, file storage, replicas, and for the log: refuse new
/// messages when full, never drop old ones); limits an operator tuned (size,
/// age) are left alone. Several servers may start at once: creating an
/// asset that another server just created is not an error.
pub(crate) async fn ensure(
    js: &jetstream::Context,
    link: &Link,
    names: &Names,
    config: &BusConfig,
) -> Result<Assets, BusError> {
    let log_config = stream::Config {
        name: names.log_stream.clone(),
        description: Some("faxnotify notifications, one subject per user".into()),
        subjects: vec![names.log_subjects()],
        storage: StorageType::File,
        num_replicas: config.replicas,
        retention: RetentionPolicy::Limits,
        // A full log refuses new notifications (the publisher is told they
        // are not accepted); dropping old ones would lose accepted ones.
        discard: DiscardPolicy::New,
        discard_new_per_subject: true,
        max_bytes: config.log_max_bytes,
        max_messages_per_subject: config.log_max_per_user,
        // Age is the log's only trim (see `BusConfig::log_max_age`); the
        // stream's own value is what the readers check against.
        max_age: config.log_max_age,
        duplicate_window: config.duplicate_window,
        allow_direct: true,
        republish: Some(Republish {
            source: names.log_subjects(),
            destination: names.log_tails(),
            // The tail only wakes readers (`crate::ordered`): its payload
            // would be bytes every server receives and drops.
            headers_only: true,
        }),
        ..Default::default()
    };
    let log = stream(js, link, log_config, |have| {
        check_common(have, config)?;
        if have.discard != DiscardPolicy::New {
            return Err("it discards old messages when full (needs discard: new)".into());
        }
        Ok(())
    })
    .await?;

    let reports_config = stream::Config {
        name: names.reports_stream.clone(),
        description: Some("faxnotify delivery reports, one subject per origin server".into()),
        subjects: vec![names.reports_subjects()],
        storage: StorageType::File,
        num_replicas: config.replicas,
        retention: RetentionPolicy::Limits,
        max_age: config.reports_max_age,
        allow_direct: true,
        republish: Some(Republish {
            source: names.reports_subjects(),
            destination: names.reports_tails(),
            headers_only: true,
        }),
        ..Default::default()
    };
    let reports = stream(js, link, reports_config, |have| check_common(have, config)).await?;

    // The bucket's backing stream, made as the key-value convention has it
    // (what `create_key_value` would make): async-nats's own call first
    // queries account limits in a form older servers (Debian's 2.9) do not
    // answer, so the stream is created directly.
    let bucket = &names.sessions_bucket;
    let sessions_config = stream::Config {
        name: format!("KV_{bucket}"),
        description: Some("faxnotify session records (sealed)".into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        storage: StorageType::File,
        num_replicas: config.replicas,
        retention: RetentionPolicy::Limits,
        // Compare-and-set needs only the latest revision of a key.
        max_messages_per_subject: 1,
        // Held sessions' records are rewritten every renewal; a record
        // nobody wrote for as long as the log keeps notifications belongs
        // to a session that ended or expired long ago (the server refuses
        // a lease + grace over half of it). Without a limit, every session
        // ever opened would stay in the bucket.
        max_age: config.log_max_age,
        discard: DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        ..Default::default()
    };
    let sessions = stream(js, link, sessions_config, |have| check_common(have, config)).await?;
    Ok(Assets {
        log,
        reports,
        sessions,
    })
}

/// Gets the stream named in `want`, creating it when absent; `check` says
/// why an existing one cannot be used.
async fn stream(
    js: &jetstream::Context,
    link: &Link,
    want: stream::Config,
    check: impl Fn(&stream::Config) -> Result<(), String>,
) -> Result<stream::Stream, BusError> {
    let found = match js.get_stream(&want.name).await {
        Ok(found) => found,
        Err(err) if not_found(&err) => match js.create_stream(want.clone()).await {
            Ok(created) => return Ok(created),
            // Another server may have created it a moment ago.
            Err(create_err) => js
                .get_stream(&want.name)
                .await
                .map_err(|_| link.failed("creating a stream", &create_err, None))?,
        },
        Err(err) => return Err(link.failed("looking up a stream", &err, None)),
    };
    let have = &found.cached_info().config;
    if have.subjects != want.subjects {
        return Err(misconfigured(
            &want.name,
            format!("subjects {:?}, expected {:?}", have.subjects, want.subjects),
        ));
    }
    // Readers follow the republished tail ([`crate::ordered`]). They use
    // its headers only, so a stream an earlier version made with full
    // payloads on the tail serves as well.
    let tail = |r: &Option<Republish>| {
        r.as_ref()
            .map(|r| (r.source.clone(), r.destination.clone()))
    };
    if tail(&have.republish) != tail(&want.republish) {
        return Err(misconfigured(
            &want.name,
            format!(
                "republishes {:?}, expected {:?}",
                have.republish, want.republish
            ),
        ));
    }
    if want.allow_direct && !have.allow_direct {
        return Err(misconfigured(&want.name, "direct get is off".into()));
    }
    check(have).map_err(|detail| misconfigured(&want.name, detail))?;
    Ok(found)
}

fn check_common(have: &stream::Config, config: &BusConfig) -> Result<(), String> {
    if have.storage != StorageType::File {
        return Err("it is kept in memory (needs file storage)".into());
    }
    if have.retention != RetentionPolicy::Limits {
        return Err("its retention is not limits-based".into());
    }
    if have.num_replicas != config.replicas {
        return Err(replicas_detail(have.num_replicas, config));
    }
    Ok(())
}

fn replicas_detail(have: usize, config: &BusConfig) -> String {
    format!("{have} replicas, configured {}", config.replicas)
}

fn misconfigured(asset: &str, detail: String) -> BusError {
    BusError::Misconfigured {
        asset: asset.to_owned(),
        detail,
    }
}

fn not_found(err: &jetstream::context::GetStreamError) -> bool {
    matches!(err.kind(), GetStreamErrorKind::JetStream(js) if js.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

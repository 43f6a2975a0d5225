//! The collector against hand-written event streams.
use super::*;
use tokio::io::AsyncWriteExt;

const START: Duration = Duration::from_secs(60);

/// No cgroup: figures unknown, limits not set.
#[derive(Default)]
struct Recorder {
    begun: Vec<usize>,
    cpu: Option<u64>,
}

impl StageControl for Recorder {
    fn begin(&mut self, index: usize) -> Result<(), NotBegun> {
        self.begun.push(index);
        Ok(())
    }
    fn cpu_nanos(&self) -> Option<u64> {
        self.cpu
    }
    fn memory_peak(&self) -> Option<u64> {
        None
    }
}

fn stage(name: &str, timeout: Duration) -> StageSpec {
    StageSpec {
        name: name.into(),
        steps: vec![vec!["x".into()]],
        timeout,
        cpu_time: None,
        memory_mb: None,
        ..StageSpec::default()
    }
}

fn frames(events: &[Event]) -> Vec<u8> {
    let mut buf = Vec::new();
    for e in events {
        e.encode_into(&mut buf);
    }
    buf
}

fn report(code: i32) -> ExitReport {
    ExitReport {
        code: Some(code),
        signal: None,
        cpu_micros: 10,
    }
}

async fn collect_one(bytes: &[u8], timeout: Duration, limit: usize) -> Collected {
    let stages = [stage("run", timeout)];
    collect(
        &mut &bytes[..],
        START,
        &stages,
        limit,
        &mut Recorder::default(),
        None,
    )
    .await
}

#[tokio::test]
async fn output_is_capped_while_it_streams() {
    let chunk = Event::Stdout(vec![b'x'; 1000]);
    let bytes = frames(&[
        Event::Started,
        Event::StageStart(0),
        chunk.clone(),
        chunk.clone(),
        chunk,
    ]);
    match collect_one(&bytes, Duration::from_secs(5), 2500).await {
        Collected::Truncated(out) => {
            assert_eq!(out.stdout.len(), 2500);
            assert!(out.stages[0].truncated);
            assert_eq!(out.stages[0].truncated_stream, Some("stdout"));
            assert_eq!(out.stages[0].stdout.len(), 2500);
        }
        _ => panic!("expected truncation"),
    }
}

#[tokio::test]
async fn each_stage_keeps_its_own_output_and_status_and_the_run_all_of_it() {
    let bytes = frames(&[
        Event::Started,
        Event::StageStart(0),
        Event::Stderr(b"warning\n".to_vec()),
        Event::StageEnd(0, report(0)),
        Event::StageStart(1),
        Event::Stdout(b"a".to_vec()),
        Event::Stderr(b"b".to_vec()),
        Event::StageEnd(1, report(3)),
        Event::Exit(report(3)),
    ]);
    let stages = [stage("compile", START), stage("run", START)];
    let mut control = Recorder::default();
    let mut with_garbage = bytes.clone();
    with_garbage.extend_from_slice(b"trailing garbage is never read");
    match collect(
        &mut with_garbage.as_slice(),
        START,
        &stages,
        100,
        &mut control,
        None,
    )
    .await
    {
        Collected::Exit(out, r) => {
            assert_eq!(r, report(3));
            assert_eq!(out.stderr.to_vec(), b"warning\nb");
            assert_eq!(out.stdout.to_vec(), b"a");
            let [compile, run] = &out.stages[..] else {
                panic!()
            };
            assert_eq!(
                (compile.name.as_str(), compile.exit_code),
                ("compile", Some(0))
            );
            assert_eq!(compile.stderr.to_vec(), b"warning\n");
            assert!(compile.stdout.is_empty());
            assert_eq!((run.name.as_str(), run.exit_code), ("run", Some(3)));
            assert_eq!(run.stderr.to_vec(), b"b");
            assert_eq!(run.output.to_vec(), b"ab", "interleaved in arrival order");
        }
        _ => panic!("expected exit"),
    }
    assert_eq!(control.begun, [0, 1], "limits set before each stage");
}

#[tokio::test]
async fn a_stage_out_of_order_breaks_the_channel() {
    let bytes = frames(&[Event::Started, Event::StageStart(1)]);
    let stages = [stage("compile", START), stage("run", START)];
    let got = collect(
        &mut bytes.as_slice(),
        START,
        &stages,
        100,
        &mut Recorder::default(),
        None,
    )
    .await;
    assert!(matches!(got, Collected::Broken(..)));
}

#[tokio::test]
async fn a_silent_stage_times_out_after_its_own_timeout() {
    let (mut client, mut server) = tokio::io::duplex(64);
    let bytes = frames(&[
        Event::Started,
        Event::StageStart(0),
        Event::StageEnd(0, report(0)),
        Event::StageStart(1),
    ]);
    server.write_all(&bytes).await.unwrap();
    let stages = [
        stage("compile", Duration::from_secs(30)),
        stage("run", Duration::from_millis(200)),
    ];
    let started = std::time::Instant::now();
    match collect(
        &mut client,
        START,
        &stages,
        100,
        &mut Recorder::default(),
        None,
    )
    .await
    {
        Collected::TimedOut(out) => {
            assert!(!out.stages[0].timed_out);
            assert!(out.stages[1].timed_out);
        }
        _ => panic!("expected a timeout"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(server);
}

/// CPU time that grows 1 ms per 1 ms of wall time.
struct Busy(std::time::Instant);

impl StageControl for Busy {
    fn begin(&mut self, _: usize) -> Result<(), NotBegun> {
        Ok(())
    }
    fn cpu_nanos(&self) -> Option<u64> {
        Some(self.0.elapsed().as_nanos() as u64)
    }
    fn memory_peak(&self) -> Option<u64> {
        None
    }
}

#[tokio::test]
async fn a_stage_over_its_cpu_budget_is_stopped_within_the_poll() {
    let (mut client, mut server) = tokio::io::duplex(64);
    server
        .write_all(&frames(&[Event::Started, Event::StageStart(0)]))
        .await
        .unwrap();
    let mut run = stage("run", Duration::from_secs(30));
    run.cpu_time = Some(Duration::from_millis(300));
    let started = std::time::Instant::now();
    match collect(
        &mut client,
        START,
        &[run],
        100,
        &mut Busy(std::time::Instant::now()),
        None,
    )
    .await
    {
        Collected::TimedOut(out) => {
            assert!(out.stages[0].cpu_limited && out.stages[0].timed_out);
            let cpu = out.stages[0].cpu_time.unwrap();
            assert!(
                cpu >= Duration::from_millis(300) && cpu < Duration::from_millis(400),
                "{cpu:?}"
            );
        }
        _ => panic!("expected the CPU budget to end the stage"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(server);
}

#[tokio::test]
async fn a_deadline_in_the_middle_of_a_frame_loses_nothing() {
    let (mut client, mut server) = tokio::io::duplex(1 << 16);
    let mut run = stage("run", Duration::from_secs(30));
    run.cpu_time = Some(Duration::from_secs(30)); // polls every 25 ms
    let bytes = frames(&[
        Event::Started,
        Event::StageStart(0),
        Event::Stdout(b"split".to_vec()),
        Event::StageEnd(0, report(0)),
        Event::Exit(report(0)),
    ]);
    let writer = tokio::spawn(async move {
        for byte in bytes {
            server.write_all(&[byte]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        server
    });
    match collect(
        &mut client,
        START,
        &[run],
        100,
        &mut Recorder::default(),
        None,
    )
    .await
    {
        Collected::Exit(out, _) => assert_eq!(out.stdout.to_vec(), b"split"),
        _ => panic!("expected exit"),
    }
    drop(writer.await);
}

#[tokio::test]
async fn a_stream_that_ends_early_is_reported_as_ended() {
    let bytes = frames(&[
        Event::Started,
        Event::StageStart(0),
        Event::Stdout(b"partial".to_vec()),
    ]);
    match collect_one(&bytes, Duration::from_secs(5), 100).await {
        Collected::Ended(out) => assert_eq!(out.stdout.to_vec(), b"partial"),
        _ => panic!("expected ended"),
    }
}

#[tokio::test]
async fn a_malformed_frame_after_the_start_keeps_what_was_captured() {
    let mut bytes = frames(&[
        Event::Started,
        Event::StageStart(0),
        Event::Stdout(b"kept".to_vec()),
    ]);
    bytes.extend_from_slice(&[0xee, 0, 0, 0, 1, b'x']);
    match collect_one(&bytes, Duration::from_secs(5), 100).await {
        Collected::Broken(out, reason) => {
            assert_eq!(out.stdout.to_vec(), b"kept");
            assert!(reason.contains("malformed"), "{reason}");
        }
        _ => panic!("expected a broken channel"),
    }
    let garbage = [0xeeu8, 0, 0, 0, 1, b'x'];
    assert!(matches!(
        collect_one(&garbage, Duration::from_secs(5), 100).await,
        Collected::Failed(_)
    ));
}

#[tokio::test]
async fn empty_frames_count_against_the_frame_bound() {
    let limit = 100;
    let mut events = vec![Event::Started, Event::StageStart(0)];
    events.extend(std::iter::repeat_n(
        Event::Stdout(Vec::new()),
        max_events(limit) + 10,
    ));
    let bytes = frames(&events);
    match collect_one(&bytes, Duration::from_secs(5), limit).await {
        Collected::Broken(out, reason) => {
            assert!(out.stdout.is_empty());
            assert!(reason.contains("frames"), "{reason}");
        }
        _ => panic!("expected the frame bound"),
    }
}

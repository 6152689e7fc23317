//! `loadtest fanout`: one searcher alone against a root sharing its splits out to leaf
//! invocations of itself, over many small splits, through the Lambda Invoke API of
//! `cargo lambda watch`: the searcher binary as it ships, built with the `bench` feature,
//! which adds storage latency in every invocation (leaves too) and, for the cold runs, new
//! caches in every invocation (`hydrant_lambda::bench`).
//!
//! For each layout (alone, then each `HYDRANT_SPLITS_PER_LEAF`), a function server is started
//! with the layout's settings, the query mix is sent once to start its instances (not
//! measured), then `rounds` times, each answer timed at the client. What Lambda bills comes
//! from the invocations' own lines: the duration of every invocation, root and leaves, and
//! the storage GETs each made, metastore included. Every fanned-out answer must equal the
//! lone searcher's. Peak memory is the largest `VmHWM` of the function's processes; the lone
//! searcher's also after a large `_msearch` over every split.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bench::{Bench, BenchConfig, BenchProgress};
use crate::cost::SEARCHER_MEMORY_MB;
use crate::cost::{LAMBDA_ARM64_PER_GB_SECOND, LAMBDA_PER_REQUEST, S3_GET_PER_REQUEST};
use crate::dashboard::msearch_body;
use crate::error::{LoadtestError, Result};
use crate::measure::{Percentiles, check, machine_description};
use crate::query_mix::{QUERY_MIX, request_body};

/// The searcher's name under `cargo lambda watch`: its binary's.
const FUNCTION: &str = "hydrant-searcher";
/// How a process of it is named in `/proc/*/comm` (15 bytes at most).
const PROCESS_COMM: &str = "hydrant-searche";
/// The prefix of the `bench` feature's per-invocation lines (`hydrant_lambda::bench`).
const LINE_PREFIX: &str = "hydrant-bench ";
/// Bound on one invocation, as the root's own leaf timeout bounds its leaves.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on the function server's start (the binary is built before).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// What to measure.
#[derive(Clone, Debug)]
pub struct FanoutConfig {
    /// The dataset (one split per object) and the latency injected.
    pub bench: BenchConfig,
    /// `HYDRANT_SPLITS_PER_LEAF` values compared with the lone searcher.
    pub leaf_sizes: Vec<usize>,
    /// `HYDRANT_SPLIT_CONCURRENCY` values of the lone searcher (the first is the default's,
    /// which the fanned-out layouts keep).
    pub alone_split_concurrency: Vec<usize>,
    /// Rounds of the query mix measured per layout, cold and warm.
    pub rounds: usize,
    /// Repeats of the dashboard's three panels in the large `_msearch`.
    pub msearch_repeats: usize,
    /// Pins the lone searcher's processes to this core (`taskset -c`): a 1,769 MB Lambda has
    /// one vCPU, where this machine would lend a lone searcher all of its cores.
    pub alone_core: Option<String>,
    /// The workspace `cargo lambda watch` runs in.
    pub workspace: PathBuf,
}

/// Where a search's splits are searched.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Layout {
    /// Splits per leaf invocation; `None` for the lone searcher.
    pub splits_per_leaf: Option<usize>,
    /// Splits each invocation searches at once.
    pub split_concurrency: usize,
    /// Whether its processes were pinned to one core.
    pub pinned: bool,
}

impl Layout {
    fn name(&self) -> String {
        match self.splits_per_leaf {
            None if self.pinned => format!("alone, 1 core, {} at once", self.split_concurrency),
            None => format!("alone, {} at once", self.split_concurrency),
            Some(size) => format!("{size} per leaf"),
        }
    }
}

/// One layout's figures.
#[derive(Debug, Serialize)]
pub struct LayoutFigures {
    pub layout: Layout,
    pub cold: RunFigures,
    pub warm: RunFigures,
}

/// A layout's figures, cold or warm.
#[derive(Debug, Default, Serialize)]
pub struct RunFigures {
    pub latency: Percentiles,
    /// Leaf invocations per query (the root's own is one more).
    pub leaf_invocations_per_query: f64,
    /// Storage GETs per query, every invocation's, metastore included.
    pub gets_per_query: f64,
    /// Billed duration per query, every invocation's.
    pub billed_seconds_per_query: f64,
    /// CPU time per query of the function's processes (user and system): what an
    /// invocation's share of a vCPU must cover.
    pub cpu_seconds_per_query: f64,
    /// Lambda compute and requests and S3 GETs of 1,000 queries, in dollars.
    pub dollars_per_thousand_queries: f64,
    /// The largest peak resident memory of the function's processes.
    pub peak_rss_bytes: u64,
}

/// What was measured.
#[derive(Debug, Serialize)]
pub struct FanoutReport {
    pub machine: String,
    pub started_at: String,
    pub splits: usize,
    pub docs: u64,
    pub injected_latency_ms: f64,
    pub queries_per_run: usize,
    pub layouts: Vec<LayoutFigures>,
    /// Panels of the large `_msearch`, and the lone searcher's peak memory after it (cold).
    pub msearch_panels: usize,
    pub msearch_peak_rss_bytes: u64,
}

impl FanoutReport {
    /// The figures for a person.
    pub fn table(&self) -> String {
        let mut table = format!(
            "Fan-out over {} splits ({} docs), {} ms injected per storage request, through \
             `cargo lambda watch`; {} queries per run\n",
            self.splits, self.docs, self.injected_latency_ms, self.queries_per_run
        );
        table += &format!(
            "  {:<27} {:<5} {:>9} {:>9} {:>7} {:>8} {:>9} {:>7} {:>10} {:>9}\n",
            "layout",
            "",
            "p50 ms",
            "p99 ms",
            "leaves",
            "GETs",
            "billed s",
            "CPU s",
            "$/1000 q",
            "peak MB"
        );
        for layout in &self.layouts {
            let name = layout.layout.name();
            for (run, figures) in [("cold", &layout.cold), ("warm", &layout.warm)] {
                table += &format!(
                    "  {name:<27} {run:<5} {:>9.1} {:>9.1} {:>7.1} {:>8.0} {:>9.3} {:>7.3} {:>10.4} {:>9.0}\n",
                    figures.latency.p50_ms,
                    figures.latency.p99_ms,
                    figures.leaf_invocations_per_query,
                    figures.gets_per_query,
                    figures.billed_seconds_per_query,
                    figures.cpu_seconds_per_query,
                    figures.dollars_per_thousand_queries,
                    figures.peak_rss_bytes as f64 / 1e6,
                );
            }
        }
        table += &format!(
            "  alone, cold, after an _msearch of {} panels over every split: peak {:.0} MB\n",
            self.msearch_panels,
            self.msearch_peak_rss_bytes as f64 / 1e6
        );
        table +=
            "  every fanned-out answer equal to the lone searcher's (the run fails otherwise)\n";
        table
    }
}

/// One invocation's line from the `bench` feature.
#[derive(Debug, Deserialize)]
struct InvocationLine {
    leaf: bool,
    millis: u64,
    gets: u64,
}

/// Generates the objects, indexes one split per object, then measures each layout.
pub async fn run(config: &FanoutConfig, progress: &dyn BenchProgress) -> Result<FanoutReport> {
    let started_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let bench = Bench::new(&config.bench, progress)?;
    let generated = bench.generate().await?;
    let (_, stream_index) = bench.stream(&generated).await?;
    let index_id = crate::generator::Dataset::WebLogs.index_id();
    let metadata = stream_index.metastore.index_metadata(index_id).await?;
    let splits = metadata.published_splits().count();
    let queries: Vec<Value> = QUERY_MIX
        .iter()
        .map(|query| {
            let mut body =
                request_body(query.query, query.start_seconds(generated.time_span), false);
            body["index_id"] = index_id.into();
            body
        })
        .collect();
    let msearch = json!({
        "method": "POST",
        "path": "/api/v1/_elastic/_msearch",
        "body": msearch_body(index_id, generated.time_span).repeat(config.msearch_repeats.max(1)),
    });

    progress.phase("building the searcher (bench feature)", 1);
    build_function(&config.workspace).await?;
    progress.step();

    let index_dir = config.bench.work_dir.join("index");
    let mut figures = Vec::new();
    let mut alone_answers: Option<Vec<Value>> = None;
    let mut msearch_peak_rss_bytes = 0;
    for (number, layout) in layouts(config).into_iter().enumerate() {
        let mut runs = Vec::new();
        for cold in [true, false] {
            progress.phase(
                &format!("{}, {}", layout.name(), if cold { "cold" } else { "warm" }),
                (queries.len() * (config.rounds + 1)) as u64,
            );
            let settings = ServerSettings {
                workspace: &config.workspace,
                work_dir: &config.bench.work_dir,
                index_dir: &index_dir,
                latency: config.bench.injected_latency,
                cold,
                layout,
                core: (config.alone_core.as_deref()).filter(|_| layout.splits_per_leaf.is_none()),
                concurrency: 2
                    + (layout.splits_per_leaf).map_or(0, |size| splits.div_ceil(size.max(1))),
            };
            // The first layout, cold, also answers the large _msearch.
            let large = (number == 0 && cold).then_some(&msearch);
            let (measured, peak) =
                run_layout(&settings, &queries, config.rounds, large, progress).await?;
            msearch_peak_rss_bytes = peak.unwrap_or(msearch_peak_rss_bytes);
            match &alone_answers {
                None => alone_answers = Some(measured.answers.clone()),
                Some(alone) => check_same_answers(alone, &measured.answers, layout)?,
            }
            runs.push(measured.figures);
        }
        let warm = runs.pop().unwrap_or_default();
        let cold = runs.pop().unwrap_or_default();
        figures.push(LayoutFigures { layout, cold, warm });
    }
    Ok(FanoutReport {
        machine: machine_description(),
        started_at,
        splits,
        docs: metadata.num_published_docs(),
        injected_latency_ms: config.bench.injected_latency.as_secs_f64() * 1e3,
        queries_per_run: queries.len() * config.rounds,
        layouts: figures,
        msearch_panels: 3 * config.msearch_repeats.max(1),
        msearch_peak_rss_bytes,
    })
}

/// The lone searcher at each split concurrency, then each leaf size at the first one.
fn layouts(config: &FanoutConfig) -> Vec<Layout> {
    let default_concurrency = config
        .alone_split_concurrency
        .first()
        .copied()
        .unwrap_or(100);
    (config.alone_split_concurrency.iter())
        .map(|&split_concurrency| Layout {
            splits_per_leaf: None,
            split_concurrency,
            pinned: config.alone_core.is_some(),
        })
        .chain(config.leaf_sizes.iter().map(|&size| Layout {
            splits_per_leaf: Some(size),
            split_concurrency: default_concurrency,
            pinned: false,
        }))
        .collect()
}

/// One layout, cold or warm, on a server of its own; then `large`, when given, and the peak
/// memory after it.
async fn run_layout(
    settings: &ServerSettings<'_>,
    queries: &[Value],
    rounds: usize,
    large: Option<&Value>,
    progress: &dyn BenchProgress,
) -> Result<(MeasuredRun, Option<u64>)> {
    let server = FunctionServer::start(settings).await?;
    let measured = measure_run(&server, queries, rounds, progress).await;
    let large_answer = match (&measured, large) {
        (Ok(_), Some(request)) => Some(server.invoke(request).await),
        _ => None,
    };
    let peak = large_answer.is_some().then(|| server.peak_rss_bytes());
    server.stop().await;
    if let Some(answer) = large_answer {
        let answer = answer?;
        check(answer["status"] == 200, || {
            format!("the large _msearch failed: {answer}")
        })?;
    }
    Ok((measured?, peak))
}

/// A run's figures and its first round's answers.
struct MeasuredRun {
    figures: RunFigures,
    answers: Vec<Value>,
}

/// The mix once to start the instances, then `rounds` times measured.
async fn measure_run(
    server: &FunctionServer,
    queries: &[Value],
    rounds: usize,
    progress: &dyn BenchProgress,
) -> Result<MeasuredRun> {
    for query in queries {
        server.invoke(query).await?;
        progress.step();
    }
    let before = server.settled_lines(queries.len()).await?.len();
    let cpu_before = server.cpu_seconds();
    let mut timings = Vec::new();
    let mut answers = Vec::new();
    for round in 0..rounds {
        for query in queries {
            let started = Instant::now();
            let answer = server.invoke(query).await?;
            timings.push(started.elapsed());
            check(answer.get("num_hits").is_some(), || {
                format!("the search failed: {answer}")
            })?;
            if round == 0 {
                answers.push(answer);
            }
            progress.step();
        }
    }
    let lines = server
        .settled_lines(queries.len() * (rounds + 1))
        .await?
        .split_off(before);
    let cpu_seconds = server.cpu_seconds() - cpu_before;
    let measured_queries = (queries.len() * rounds).max(1) as f64;
    let leaves = lines.iter().filter(|line| line.leaf).count() as f64;
    let gets: u64 = lines.iter().map(|line| line.gets).sum();
    let billed_seconds = lines.iter().map(|line| line.millis).sum::<u64>() as f64 / 1e3;
    let per_query = |total: f64| total / measured_queries;
    let dollars = billed_seconds * SEARCHER_MEMORY_MB / 1024.0 * LAMBDA_ARM64_PER_GB_SECOND
        + lines.len() as f64 * LAMBDA_PER_REQUEST
        + gets as f64 * S3_GET_PER_REQUEST;
    Ok(MeasuredRun {
        figures: RunFigures {
            latency: Percentiles::of(&timings),
            leaf_invocations_per_query: per_query(leaves),
            gets_per_query: per_query(gets as f64),
            billed_seconds_per_query: per_query(billed_seconds),
            cpu_seconds_per_query: per_query(cpu_seconds),
            dollars_per_thousand_queries: per_query(dollars) * 1e3,
            peak_rss_bytes: server.peak_rss_bytes(),
        },
        answers,
    })
}

/// The fanned-out answers must be the lone searcher's, timing aside.
fn check_same_answers(alone: &[Value], fanned: &[Value], layout: Layout) -> Result<()> {
    let comparable = |answer: &Value| {
        let mut answer = answer.clone();
        if let Some(fields) = answer.as_object_mut() {
            fields.remove("elapsed_time_micros");
        }
        answer
    };
    check(alone.len() == fanned.len(), || {
        "a run answered a different number of queries".to_string()
    })?;
    for (query, (alone, fanned)) in alone.iter().zip(fanned).enumerate() {
        check(comparable(alone) == comparable(fanned), || {
            format!(
                "query {query} {} answered differently: {fanned} instead of {alone}",
                layout.name()
            )
        })?;
    }
    Ok(())
}

/// Builds the searcher as the function server will run it, so that its first invocation
/// does not wait for a compilation.
async fn build_function(workspace: &Path) -> Result<()> {
    let status = tokio::process::Command::new("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "hydrant-lambda",
            "--features",
            "bench",
        ])
        .args(["--bin", FUNCTION])
        .current_dir(workspace)
        .status()
        .await?;
    check(status.success(), || {
        format!("building {FUNCTION} failed: {status}")
    })
}

struct ServerSettings<'a> {
    workspace: &'a Path,
    work_dir: &'a Path,
    index_dir: &'a Path,
    latency: Duration,
    cold: bool,
    layout: Layout,
    /// The core to pin the function's processes to.
    core: Option<&'a str>,
    concurrency: usize,
}

impl ServerSettings<'_> {
    /// The function's environment, as an env file for `cargo lambda watch`.
    fn env_file(&self, port: u16) -> String {
        let layout = self.layout;
        let mut env = vec![
            ("HYDRANT_INDEX_URI", self.index_dir.display().to_string()),
            (
                "HYDRANT_BENCH_STORAGE_LATENCY_MS",
                self.latency.as_millis().to_string(),
            ),
            (
                "HYDRANT_SPLITS_PER_LEAF",
                layout.splits_per_leaf.unwrap_or(0).to_string(),
            ),
            (
                "HYDRANT_SPLIT_CONCURRENCY",
                layout.split_concurrency.to_string(),
            ),
            ("HYDRANT_LEAF_FUNCTION", FUNCTION.to_string()),
            // The root's Lambda client, pointed at the function server: no AWS account.
            (
                "AWS_ENDPOINT_URL_LAMBDA",
                format!("http://127.0.0.1:{port}"),
            ),
            ("AWS_ACCESS_KEY_ID", "bench".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "bench".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("RUST_LOG", "warn".to_string()),
        ];
        if self.cold {
            env.push(("HYDRANT_BENCH_COLD", "1".to_string()));
        }
        env.iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect()
    }
}

/// `cargo lambda watch` serving the searcher, its output kept in a file.
struct FunctionServer {
    child: tokio::process::Child,
    port: u16,
    output: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl FunctionServer {
    async fn start(settings: &ServerSettings<'_>) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let env_file = settings.work_dir.join("fanout.env");
        std::fs::write(&env_file, settings.env_file(port))?;
        let output = settings.work_dir.join(format!("fanout-{port}.log"));
        let log = std::fs::File::create(&output)?;
        let mut command = match settings.core {
            Some(core) => {
                let mut command = tokio::process::Command::new("taskset");
                command.args(["-c", core, "cargo"]);
                command
            }
            None => tokio::process::Command::new("cargo"),
        };
        let child = command
            .args([
                "lambda",
                "watch",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .arg("--env-file")
            .arg(&env_file)
            .args(["--ignore-changes", "--concurrency"])
            .arg(settings.concurrency.to_string())
            .args(["--release", "--features", "bench", "-p", "hydrant-lambda"])
            .args(["--bin", FUNCTION])
            .current_dir(settings.workspace)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so that stopping it stops every function process.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let server = FunctionServer {
            child,
            port,
            output,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                server.stop().await;
                return Err(LoadtestError::Check(format!(
                    "cargo lambda watch did not listen on {port} within {START_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(server)
    }

    /// One synchronous invocation through the Invoke API.
    async fn invoke(&self, payload: &Value) -> Result<Value> {
        let uri = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{FUNCTION}/invocations",
            self.port
        );
        let request = http::Request::post(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(payload)?)))
            .map_err(|error| LoadtestError::Http(error.to_string()))?;
        let body = tokio::time::timeout(INVOKE_TIMEOUT, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| LoadtestError::Http(error.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|error| LoadtestError::Http(error.to_string()))?
                .to_bytes();
            check(status.is_success(), || {
                format!("invoke: {status}: {}", String::from_utf8_lossy(&body))
            })?;
            Ok::<_, LoadtestError>(body)
        })
        .await
        .map_err(|_| LoadtestError::Http(format!("invoke: no answer in {INVOKE_TIMEOUT:?}")))??;
        Ok(serde_json::from_slice(&body)?)
    }

    /// The invocation lines so far, once at least `roots` root invocations have reported and
    /// no line has arrived for a moment: the server relays each process's output on its own.
    async fn settled_lines(&self, roots: usize) -> Result<Vec<InvocationLine>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = usize::MAX;
        loop {
            let lines = self.lines()?;
            let root_lines = lines.iter().filter(|line| !line.leaf).count();
            if root_lines >= roots && lines.len() == seen {
                return Ok(lines);
            }
            if Instant::now() > deadline {
                return Err(LoadtestError::Check(format!(
                    "{root_lines} of {roots} invocation lines arrived in 30 s"
                )));
            }
            seen = lines.len();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn lines(&self) -> Result<Vec<InvocationLine>> {
        let text = std::fs::read_to_string(&self.output)?;
        Ok(text
            .lines()
            .filter_map(|line| {
                line.find(LINE_PREFIX)
                    .map(|at| &line[at + LINE_PREFIX.len()..])
            })
            .filter_map(|figures| serde_json::from_str(figures.trim()).ok())
            .collect())
    }

    /// The function's processes under `/proc` (only this server's: each server is stopped
    /// before the next starts).
    fn processes() -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                std::fs::read_to_string(path.join("comm"))
                    .is_ok_and(|comm| comm.trim() == PROCESS_COMM)
            })
            .collect()
    }

    /// User and system CPU time of the function's processes so far.
    fn cpu_seconds(&self) -> f64 {
        // SAFETY: sysconf reads a constant of the system.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Self::processes()
            .iter()
            .filter_map(|path| std::fs::read_to_string(path.join("stat")).ok())
            .filter_map(|stat| {
                // Fields after the command name, which is in parentheses and may hold spaces:
                // utime and stime are the 14th and 15th of the line.
                let after_name = &stat[stat.rfind(')')? + 1..];
                let fields: Vec<&str> = after_name.split_whitespace().collect();
                let utime: u64 = fields.get(11)?.parse().ok()?;
                let stime: u64 = fields.get(12)?.parse().ok()?;
                Some((utime + stime) as f64 / ticks_per_second)
            })
            .sum()
    }

    /// The largest `VmHWM` among the function's processes.
    fn peak_rss_bytes(&self) -> u64 {
        Self::processes()
            .iter()
            .filter_map(|path| std::fs::read_to_string(path.join("status")).ok())
            .filter_map(|status| {
                let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            })
            .max()
            .unwrap_or(0)
    }

    /// Stops the server and every function process it started.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: killpg only sends a signal; the group is the one this server leads.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            if let Some(pid) = self.child.id() {
                // SAFETY: as above.
                unsafe {
                    libc::killpg(pid as libc::pid_t, libc::SIGKILL);
                }
            }
            let _ = self.child.wait().await;
        }
        // The function processes may outlive the server's exit by a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.peak_rss_bytes() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

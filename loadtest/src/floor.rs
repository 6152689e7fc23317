//! Indexing at the cost floor (`loadtest floor`): what a megabyte of records costs in
//! CPU-seconds through Hydrant's whole pipeline, against a tantivy-py script indexing the same
//! objects, each in a process of its own so that its CPU time is its alone.
//!
//! - **Hydrant**: `hydrant index ingest --no-merge` (built as the indexer Lambda is): batches of
//!   10 objects as SQS FIFO delivers them, each through the same batch core as the Lambda
//!   handler (read, decompress, frame, parse, map, index, upload, publish, rejected records
//!   kept), to published splits on local disk. Then, measured apart, `hydrant maintenance`:
//!   the merges the index's policy asks of those splits (the script has none to do).
//! - **tantivy-py**: `loadtest/tantivy_py_baseline.py`, tantivy from PyPI: decompress, one
//!   `add_json` per line, one indexing thread, one commit, same schema.
//!
//! CPU time is the child's user + system time (`wait4`), so the other processes of a shared
//! machine do not count; the same pair is run again pinned to one core (`taskset -c 0`),
//! which is about what a 1,769 MB Lambda has.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::error::{LoadtestError, Result};
use crate::firehose::Framing;
use crate::generator::{Dataset, ObjectGenerator, ObjectSpec};
use crate::measure::{DatasetFigures, check};

/// What to measure.
#[derive(Clone, Debug)]
pub struct FloorConfig {
    /// Uncompressed bytes of records, over all objects.
    pub total_bytes: u64,
    pub num_objects: usize,
    /// Share of records that are bad (rejected by Hydrant and kept, dropped by the script).
    pub bad_share: f64,
    pub seed: u64,
    /// Where objects and indexes go.
    pub work_dir: PathBuf,
    /// The `hydrant` binary (a release build: that is what runs on Lambda).
    pub hydrant_bin: PathBuf,
    /// A Python with `tantivy` installed.
    pub python: PathBuf,
    /// `tantivy_py_baseline.py`.
    pub baseline_script: PathBuf,
    /// Also run both pinned to this core with `taskset`.
    pub pinned_core: Option<u32>,
}

/// One side's run.
#[derive(Clone, Debug, Serialize)]
pub struct SideRun {
    /// User + system time of the process.
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    pub peak_rss_bytes: u64,
    pub num_docs: u64,
    pub num_rejected: u64,
    /// Bytes of the index it left: Hydrant's published splits, tantivy-py's directory.
    pub index_bytes: u64,
}

impl SideRun {
    pub fn mb_per_cpu_second(&self, uncompressed_bytes: u64) -> f64 {
        uncompressed_bytes as f64 / 1e6 / self.cpu_seconds.max(1e-9)
    }
}

/// Both sides, under one CPU placement.
#[derive(Clone, Debug, Serialize)]
pub struct SidesRun {
    /// `None`: free to use every core; `Some(core)`: pinned to it.
    pub pinned_core: Option<u32>,
    /// To published splits.
    pub hydrant: SideRun,
    /// The merges of those splits by the index's policy, after (`index_bytes`: the index
    /// after them).
    pub hydrant_merges: SideRun,
    pub tantivy_py: SideRun,
}

/// What `loadtest floor` measured.
#[derive(Clone, Debug, Serialize)]
pub struct FloorResult {
    pub dataset: DatasetFigures,
    pub runs: Vec<SidesRun>,
    /// What a TB costs by the shape of a stream (`floor_cost`), when measured.
    pub cost: Option<crate::floor_cost::CostRun>,
}

impl SidesRun {
    /// Hydrant's MB per CPU-second to published splits over the script's.
    pub fn efficiency_ratio(&self, uncompressed_bytes: u64) -> f64 {
        self.hydrant.mb_per_cpu_second(uncompressed_bytes)
            / self.tantivy_py.mb_per_cpu_second(uncompressed_bytes)
    }

    /// The same, with Hydrant's merges counted (both sides indexed the same bytes).
    pub fn efficiency_ratio_with_merges(&self) -> f64 {
        let with_merges = self.hydrant.cpu_seconds + self.hydrant_merges.cpu_seconds;
        self.tantivy_py.cpu_seconds / with_merges.max(1e-9)
    }
}

impl FloorResult {
    /// A readable table.
    pub fn table(&self) -> String {
        let dataset = &self.dataset;
        let raw = dataset.uncompressed_bytes;
        let mut table = format!(
            "{} objects, {} records ({} bad), {:.1} MB raw, {:.1} MB gzip\n\n",
            dataset.objects,
            dataset.records,
            dataset.bad_records,
            raw as f64 / 1e6,
            dataset.gzip_bytes as f64 / 1e6
        );
        table.push_str(&format!(
            "{:<12} {:<11} {:>9} {:>8} {:>10} {:>10} {:>9} {:>12}\n",
            "cores", "side", "CPU s", "wall s", "MB/CPU-s", "docs", "rejected", "index/gzip"
        ));
        for run in &self.runs {
            let cores = match run.pinned_core {
                Some(core) => format!("core {core}"),
                None => "all".to_string(),
            };
            let sides = [
                ("hydrant", &run.hydrant),
                ("+ merges", &run.hydrant_merges),
                ("tantivy-py", &run.tantivy_py),
            ];
            for (name, side) in sides {
                table.push_str(&format!(
                    "{cores:<12} {name:<11} {:>9.2} {:>8.2} {:>10.1} {:>10} {:>9} {:>11.2}x\n",
                    side.cpu_seconds,
                    side.wall_seconds,
                    side.mb_per_cpu_second(raw),
                    side.num_docs,
                    side.num_rejected,
                    side.index_bytes as f64 / dataset.gzip_bytes as f64,
                ));
            }
            table.push_str(&format!(
                "{cores:<12} hydrant / tantivy-py: {:.2}x the MB per CPU-second to published \
                 splits, {:.2}x with the merges\n",
                run.efficiency_ratio(raw),
                run.efficiency_ratio_with_merges()
            ));
        }
        table
    }
}

/// Generates the objects, then runs both sides (and both again pinned). `on_phase` is told
/// what is running.
pub fn run(config: &FloorConfig, mut on_phase: impl FnMut(&str)) -> Result<FloorResult> {
    on_phase("generating objects");
    let (dataset, objects) = generate_objects(config)?;
    let mut runs = Vec::new();
    let placements = std::iter::once(None).chain(config.pinned_core.map(Some));
    for (number, pinned_core) in placements.enumerate() {
        let run_dir = config.work_dir.join(format!("run-{number}"));
        let where_ = match pinned_core {
            Some(core) => format!(" (pinned to core {core})"),
            None => String::new(),
        };
        on_phase(&format!("hydrant: indexing{where_}"));
        let (hydrant, hydrant_merges) = run_hydrant(config, pinned_core, &run_dir, &objects)?;
        on_phase(&format!("tantivy-py: indexing{where_}"));
        let tantivy_py = run_tantivy_py(config, pinned_core, &run_dir, &objects)?;
        check(hydrant.num_docs == dataset.good_records, || {
            format!(
                "hydrant indexed {} documents of {} good records",
                hydrant.num_docs, dataset.good_records
            )
        })?;
        check(hydrant.num_rejected == dataset.bad_records, || {
            format!(
                "hydrant rejected {} records of {} bad ones",
                hydrant.num_rejected, dataset.bad_records
            )
        })?;
        runs.push(SidesRun {
            pinned_core,
            hydrant,
            hydrant_merges,
            tantivy_py,
        });
    }
    Ok(FloorResult {
        dataset,
        runs,
        cost: None,
    })
}

/// The cost model's measurements (`loadtest floor-cost`, this binary), in a child process
/// pinned to core 0 (or unpinned when the config pins nothing).
pub fn run_cost_model(
    config: &FloorConfig,
    latency_ms: u64,
    scale: f64,
) -> Result<crate::floor_cost::CostRun> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("floor-cost")
        .arg(format!("--latency-ms={latency_ms}"))
        .arg(format!("--scale={scale}"))
        .arg(format!("--seed={}", config.seed))
        .arg(format!(
            "--work-dir={}",
            config.work_dir.join("cost").display()
        ));
    let (_, output) = run_measured(
        pinned(command, config.pinned_core),
        &config.work_dir,
        "floor-cost",
    )?;
    parse_output(&output, "loadtest floor-cost")
}

/// Web-log objects adding up to the configured size, as gzip files in `work_dir/objects`.
fn generate_objects(config: &FloorConfig) -> Result<(DatasetFigures, Vec<PathBuf>)> {
    let dir = config.work_dir.join("objects");
    std::fs::create_dir_all(&dir)?;
    let mut generator = ObjectGenerator::for_dataset(Dataset::WebLogs, config.seed);
    let mut figures = DatasetFigures {
        objects: config.num_objects,
        records: 0,
        good_records: 0,
        bad_records: 0,
        uncompressed_bytes: 0,
        gzip_bytes: 0,
    };
    // Objects are sized from the average record so far, so the total lands on its size.
    let mut bytes_per_record = 330.0;
    let mut paths = Vec::with_capacity(config.num_objects);
    let mut next_millis = 1_764_000_000_000;
    for number in 0..config.num_objects {
        let remaining = config
            .total_bytes
            .saturating_sub(figures.uncompressed_bytes) as f64;
        let num_records =
            (remaining / (config.num_objects - number) as f64 / bytes_per_record).max(1.0) as usize;
        let object = generator.object(ObjectSpec {
            num_records,
            bad_share: config.bad_share,
            framing: Framing::NewlineDelimited,
            gzip: true,
            start_millis: next_millis,
            late_share: 0.0,
            strict: false,
        });
        next_millis += num_records as i64;
        figures.records += num_records as u64;
        figures.good_records += object.num_good;
        figures.bad_records += object.bad.len() as u64;
        figures.uncompressed_bytes += object.uncompressed_bytes;
        figures.gzip_bytes += object.bytes.len() as u64;
        bytes_per_record = figures.uncompressed_bytes as f64 / figures.records as f64;
        // Firehose's key shape, with the sequence number the shard key is read from.
        let path = dir.join(format!("web-logs-1-2026-12-05-10-00-00-{number:08x}.gz"));
        std::fs::write(&path, &object.bytes)?;
        paths.push(path);
    }
    Ok((figures, paths))
}

/// `hydrant index create`, then the measured `hydrant index ingest --no-merge` and
/// `hydrant maintenance`.
fn run_hydrant(
    config: &FloorConfig,
    pinned_core: Option<u32>,
    run_dir: &Path,
    objects: &[PathBuf],
) -> Result<(SideRun, SideRun)> {
    let index_dir = run_dir.join("hydrant-index");
    let scratch = run_dir.join("hydrant-tmp");
    std::fs::create_dir_all(&scratch)?;
    let config_path = run_dir.join("web-logs.yaml");
    std::fs::write(&config_path, crate::web_logs::WEB_LOGS_CONFIG)?;
    let hydrant = |args: &[&str]| {
        let mut command = Command::new(&config.hydrant_bin);
        command
            .args(args)
            .arg(format!("--index-uri={}", index_dir.display()))
            .env("TMPDIR", &scratch);
        command
    };
    run_child(
        hydrant(&["index", "create"]).arg(format!("--index-config={}", config_path.display())),
    )?;
    let mut ingest = hydrant(&[
        "index",
        "ingest",
        "--index",
        "web-logs",
        "--json",
        "--no-merge",
    ]);
    ingest.args(objects);
    let (measured, output) = run_measured(pinned(ingest, pinned_core), run_dir, "hydrant")?;
    let outcome: IngestOutput = parse_output(&output, "hydrant index ingest")?;
    let published_bytes = |hydrant: &dyn Fn(&[&str]) -> Command| -> Result<u64> {
        let described = run_child(&mut hydrant(&[
            "index", "describe", "--index", "web-logs", "--json",
        ]))?;
        let described: DescribeOutput = parse_output(&described, "hydrant index describe")?;
        Ok(described.summary.published_size_bytes)
    };
    let indexed = SideRun {
        num_docs: outcome.num_docs,
        num_rejected: outcome.num_rejected,
        index_bytes: published_bytes(&hydrant)?,
        ..measured
    };
    let maintenance = hydrant(&["maintenance", "--index", "web-logs", "--json"]);
    let (merged, _) = run_measured(pinned(maintenance, pinned_core), run_dir, "hydrant-merges")?;
    let merged = SideRun {
        num_docs: outcome.num_docs,
        num_rejected: 0,
        index_bytes: published_bytes(&hydrant)?,
        ..merged
    };
    Ok((indexed, merged))
}

/// The tantivy-py script over the same objects.
fn run_tantivy_py(
    config: &FloorConfig,
    pinned_core: Option<u32>,
    run_dir: &Path,
    objects: &[PathBuf],
) -> Result<SideRun> {
    let mut command = Command::new(&config.python);
    command
        .arg(&config.baseline_script)
        .arg(run_dir.join("tantivy-py-index"))
        .args(objects);
    let (measured, output) = run_measured(pinned(command, pinned_core), run_dir, "tantivy-py")?;
    let outcome: ScriptOutput = parse_output(&output, "the tantivy-py script")?;
    Ok(SideRun {
        num_docs: outcome.num_docs,
        num_rejected: outcome.num_rejected,
        index_bytes: outcome.index_bytes,
        ..measured
    })
}

#[derive(serde::Deserialize)]
struct IngestOutput {
    num_docs: u64,
    num_rejected: u64,
}

#[derive(serde::Deserialize)]
struct DescribeOutput {
    summary: DescribeSummary,
}

#[derive(serde::Deserialize)]
struct DescribeSummary {
    published_size_bytes: u64,
}

#[derive(serde::Deserialize)]
struct ScriptOutput {
    num_docs: u64,
    num_rejected: u64,
    index_bytes: u64,
}

fn parse_output<T: serde::de::DeserializeOwned>(output: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(output).map_err(|error| {
        LoadtestError::Check(format!(
            "cannot read what {what} printed ({error}): {}",
            String::from_utf8_lossy(output)
        ))
    })
}

/// `command` under `taskset -c core` when pinned.
fn pinned(command: Command, pinned_core: Option<u32>) -> Command {
    let Some(core) = pinned_core else {
        return command;
    };
    let mut taskset = Command::new("taskset");
    taskset
        .arg("-c")
        .arg(core.to_string())
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => taskset.env(name, value),
            None => taskset.env_remove(name),
        };
    }
    taskset
}

/// Runs `command` to completion, unmeasured; its standard output.
fn run_child(command: &mut Command) -> Result<Vec<u8>> {
    let output = command.stdin(Stdio::null()).output()?;
    check(output.status.success(), || {
        format!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok(output.stdout)
}

/// Runs `command` to completion and measures it: its CPU time and peak memory from `wait4`,
/// its wall time. Its standard error goes to `{name}.stderr` in `run_dir`.
fn run_measured(mut command: Command, run_dir: &Path, name: &str) -> Result<(SideRun, Vec<u8>)> {
    let stderr_path = run_dir.join(format!("{name}.stderr"));
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path)?)
        .spawn()?;
    let mut output = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_end(&mut output)?;
    }
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    check(status == 0, || {
        format!(
            "{name} exited with status {status}; see {}",
            stderr_path.display()
        )
    })?;
    Ok((
        SideRun {
            cpu_seconds: crate::measure::cpu_seconds_of(&usage),
            wall_seconds: wall.as_secs_f64(),
            // Linux reports kilobytes.
            peak_rss_bytes: usage.ru_maxrss as u64 * 1024,
            num_docs: 0,
            num_rejected: 0,
            index_bytes: 0,
        },
        output,
    ))
}

/// Waits for child `pid` and returns its exit status and resource usage: its own, not that of
/// other children, which `getrusage(RUSAGE_CHILDREN)` would add in.
fn wait4(pid: u32) -> Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain data, valid when zeroed; `wait4` writes both out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if reaped < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((exit, usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_measured_by_its_own_cpu_time() {
        let dir = tempfile::tempdir().unwrap();
        // Burns about 0.3 s of CPU, then prints what a side prints.
        let mut busy = Command::new("sh");
        busy.arg("-c")
            .arg("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo '{\"n\": 1}'");
        let mut idle = Command::new("sleep");
        idle.arg("0.2");
        let (measured, output) = run_measured(busy, dir.path(), "busy").unwrap();
        assert!(measured.cpu_seconds > 0.05, "{measured:?}");
        assert_eq!(String::from_utf8(output).unwrap().trim(), "{\"n\": 1}");
        let (idle_measured, _) = run_measured(pinned(idle, Some(0)), dir.path(), "idle").unwrap();
        assert!(idle_measured.wall_seconds >= 0.2, "{idle_measured:?}");
        assert!(idle_measured.cpu_seconds < 0.1, "{idle_measured:?}");
    }

    #[test]
    fn generated_objects_add_up_to_the_size_asked() {
        let dir = tempfile::tempdir().unwrap();
        let config = FloorConfig {
            total_bytes: 2_000_000,
            num_objects: 4,
            bad_share: 0.01,
            seed: 7,
            work_dir: dir.path().to_path_buf(),
            hydrant_bin: PathBuf::new(),
            python: PathBuf::new(),
            baseline_script: PathBuf::new(),
            pinned_core: None,
        };
        let (figures, paths) = generate_objects(&config).unwrap();
        assert_eq!(paths.len(), 4);
        let size = figures.uncompressed_bytes as f64;
        assert!((1_800_000.0..2_200_000.0).contains(&size), "{size}");
        assert_eq!(figures.good_records + figures.bad_records, figures.records);
        assert!(figures.bad_records > 0);
        let on_disk: u64 = paths
            .iter()
            .map(|path| std::fs::metadata(path).unwrap().len())
            .sum();
        assert_eq!(on_disk, figures.gzip_bytes);
    }
}

//! pos-ingest's peak memory on hostile files: `cargo bench -p tributary --bench pos_memory`.
//!
//! Each file is ingested by the real workflow (`PosIngest::handle`, S3, DynamoDB and SQS on a
//! moto server the harness starts) in a child process of its own, which then reports its peak
//! resident memory (VmHWM): moto runs in another process, so the figure is ingestion's alone.
//! The function has 512 MB; the target is a peak under 256 MB whatever the file.

mod common;

use common::peak_rss_mib;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use tributary::messaging::Envelope;
use tributary::messaging::messages::PosFileContinue;
use tributary::testing;

const CASES: [(&str, &str); 7] = [
    ("baseline", "20,000 valid lines (CSV)"),
    (
        "xlsx-whole-sheet",
        "xlsx, a value in XFD1048576 (used range A1:XFD1048576)",
    ),
    (
        "xlsx-styled-corner",
        "xlsx, an empty styled cell in XFD1048576",
    ),
    (
        "gzip-open-quote",
        "1 MB of gzip: a quote left open, then 1 GiB of text",
    ),
    (
        "million-rejects",
        "1,000,000 lines, every one rejected (gzip CSV)",
    ),
    ("wide-rows", "2,000 lines of 5,000 columns each"),
    (
        "megabyte-records",
        "400 lines of just under 1 MiB each (gzip CSV)",
    ),
];

const HEADER: &str = "Invoice No,Line,Invoice Date,Sold To,Part Number,Qty,Unit Price,Currency\n";

fn gzip(write: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    write(&mut encoder);
    encoder.finish().unwrap()
}

fn xlsx(corner_cell: &str) -> Vec<u8> {
    let today = Utc::now().format("%Y-%m-%d");
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Invoice No</t></is></c><c r="B1" t="inlineStr"><is><t>Line</t></is></c><c r="C1" t="inlineStr"><is><t>Invoice Date</t></is></c><c r="D1" t="inlineStr"><is><t>Sold To</t></is></c><c r="E1" t="inlineStr"><is><t>Part Number</t></is></c><c r="F1" t="inlineStr"><is><t>Qty</t></is></c><c r="G1" t="inlineStr"><is><t>Unit Price</t></is></c><c r="H1" t="inlineStr"><is><t>Currency</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>X-1</t></is></c><c r="B2"><v>1</v></c><c r="C2" t="inlineStr"><is><t>{today}</t></is></c><c r="D2" t="inlineStr"><is><t>Northwind Traders</t></is></c><c r="E2" t="inlineStr"><is><t>NW-1</t></is></c><c r="F2"><v>1</v></c><c r="G2"><v>10</v></c><c r="H2" t="inlineStr"><is><t>USD</t></is></c></row><row r="1048576">{corner_cell}</row></sheetData></worksheet>"#
    );
    let files = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="POS" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn file_of(case: &str) -> (&'static str, Vec<u8>) {
    let today = Utc::now().format("%Y-%m-%d").to_string();
    match case {
        "baseline" => {
            let mut text = String::from(HEADER);
            for i in 0..20_000 {
                text.push_str(&format!(
                    "B-{},{},{today},Northwind Traders,NW-{},{},10.00,USD\n",
                    i / 4,
                    i % 4 + 1,
                    i % 3 + 1,
                    i % 7 + 1
                ));
            }
            ("baseline.csv", text.into_bytes())
        }
        "xlsx-whole-sheet" => ("whole.xlsx", xlsx(r#"<c r="XFD1048576"><v>7</v></c>"#)),
        "xlsx-styled-corner" => ("styled.xlsx", xlsx(r#"<c r="XFD1048576" s="1"/>"#)),
        "gzip-open-quote" => (
            "open-quote.csv.gz",
            gzip(|out| {
                out.write_all(HEADER.as_bytes()).unwrap();
                write!(
                    out,
                    "Q-1,1,{today},Northwind Traders,NW-1,1,10.00,USD\nQ-2,1,\""
                )
                .unwrap();
                let block = vec![b'x'; 1 << 20];
                for _ in 0..1024 {
                    out.write_all(&block).unwrap();
                }
            }),
        ),
        "million-rejects" => (
            "rejects.csv.gz",
            gzip(|out| {
                out.write_all(HEADER.as_bytes()).unwrap();
                for i in 0..1_000_000 {
                    writeln!(
                        out,
                        "R-{i},1,{today},Northwind Traders,NOT-IN-CATALOG,1,10.00,USD"
                    )
                    .unwrap();
                }
            }),
        ),
        "wide-rows" => (
            "wide.csv.gz",
            gzip(|out| {
                out.write_all(HEADER.trim_end().as_bytes()).unwrap();
                out.write_all(",extra".repeat(5000).as_bytes()).unwrap();
                out.write_all(b"\n").unwrap();
                for i in 0..2000 {
                    write!(out, "W-{i},1,{today},Northwind Traders,NW-1,1,10.00,USD").unwrap();
                    out.write_all(",some text".repeat(5000).as_bytes()).unwrap();
                    out.write_all(b"\n").unwrap();
                }
            }),
        ),
        "megabyte-records" => (
            "megabyte.csv.gz",
            gzip(|out| {
                out.write_all(HEADER.trim_end().as_bytes()).unwrap();
                out.write_all(b",Notes\n").unwrap();
                let notes = "n".repeat(1000 * 1000);
                for i in 0..400 {
                    writeln!(
                        out,
                        "M-{i},1,{today},Northwind Traders,NW-1,1,10.00,USD,{notes}"
                    )
                    .unwrap();
                }
            }),
        ),
        other => panic!("unknown case {other}"),
    }
}

/// In the child: ingest one case's file and print `status|reason|seconds|peak MiB`.
async fn run_case(case: &str) {
    let f = testing::pos_service(1000).await;
    let (name, bytes) = file_of(case);
    let size = bytes.len();
    let key = format!("{}/pos/{name}", f.distributor);
    let put = f
        .service
        .s3
        .put_object()
        .bucket(&f.bucket)
        .key(&key)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
    let body = serde_json::json!({"Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": f.bucket},
               "object": {"key": key, "size": size, "eTag": put.e_tag.unwrap_or_default(),
                          "versionId": put.version_id.unwrap_or_default()}}
    }]})
    .to_string();
    let start = Instant::now();
    // Continuations (a file longer than one invocation) are followed here, as the queue would.
    let mut progress = f
        .service
        .handle(&body, Instant::now() + Duration::from_secs(600))
        .await
        .unwrap();
    use tributary::store::PosStore;
    let file = f
        .service
        .store
        .list_files(Some(&f.distributor), 10, None)
        .await
        .unwrap()
        .files
        .remove(0);
    while progress == vec![tributary::workflow::pos::Progress::Continued] {
        let message = Envelope::new(
            "bench",
            PosFileContinue {
                file_id: file.id.clone(),
            },
            Utc::now(),
        );
        progress = f
            .service
            .handle(
                &message.to_json(),
                Instant::now() + Duration::from_secs(600),
            )
            .await
            .unwrap();
    }
    let file = f.service.store.get_file(&file.id).await.unwrap().unwrap();
    println!(
        "{:?}|{}|{:.1}|{:.0}",
        file.status,
        file.reason.unwrap_or_default(),
        start.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--case") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(run_case(&args[at + 1]));
        return;
    }
    println!("| file | outcome | time | peak RSS |");
    println!("|---|---|---:|---:|");
    for (case, what) in CASES {
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--case", case])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or("");
        let parts: Vec<&str> = line.split('|').collect();
        if !output.status.success() || parts.len() != 4 {
            println!(
                "| {what} | the child failed: {} | | |",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            continue;
        }
        let outcome = if parts[1].is_empty() {
            parts[0].to_lowercase()
        } else {
            format!("{}: {}", parts[0].to_lowercase(), parts[1])
        };
        println!("| {what} | {outcome} | {} s | {} MiB |", parts[2], parts[3]);
    }
}

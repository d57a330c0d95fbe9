//! `chanctl pos check`: runs a file through the ingestion core (formats, mapping, validation)
//! on this machine, without AWS, so that a distributor or an integrator can try a layout and a
//! profile before sending files.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::Utc;
use clap::Args;
use tributary::domain::PartnerId;
use tributary::domain::pos::{DateWindow, FileKind, MappingProfile, Profile, ResellerDirectory};
use tributary::workflow::pos::{LocalCheck, check_local};

use crate::{Failure, Output};

#[derive(Args)]
pub struct CheckArgs {
    /// The file (CSV, TSV, semicolon or pipe delimited, xlsx; gzip-compressed or not).
    file: PathBuf,
    /// What the file reports.
    #[arg(long, value_parser = crate::parse::<FileKind>, default_value = "pos")]
    kind: FileKind,
    /// The distributor's mapping profile (JSON, as for PUT /distributors/{id}/profile).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// The SKUs of the catalog, one per line; without it SKUs are not checked.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Reseller names (or partner ids) known to the vendor, one per line; without it every sale
    /// counts as held (unmatched).
    #[arg(long)]
    resellers: Option<PathBuf>,
    /// Lines dated further back than this are outside the reporting window.
    #[arg(long, default_value_t = 400)]
    max_age_days: i64,
    /// Write the reject report here instead of printing it.
    #[arg(long)]
    rejects: Option<PathBuf>,
}

fn read_lines(path: &PathBuf) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("reading {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Runs the check; `catalog` says whether SKUs were checked.
fn run(args: &CheckArgs) -> Result<(LocalCheck, bool), Failure> {
    let profile = match &args.profile {
        None => Profile::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure(format!("reading {}: {e}", path.display())))?;
            let profile: MappingProfile = serde_json::from_str(&text)
                .map_err(|e| Failure(format!("{}: {e}", path.display())))?;
            profile
                .compile()
                .map_err(|e| Failure(format!("{}: {e}", path.display())))?
        }
    };
    let catalog: Option<HashSet<String>> = args
        .catalog
        .as_ref()
        .map(|p| read_lines(p).map(|l| l.into_iter().collect()))
        .transpose()?;
    // Names stand for partners here: each gets a made-up id, so matching works as it would.
    let resellers = match &args.resellers {
        None => ResellerDirectory::default(),
        Some(path) => ResellerDirectory::new(
            read_lines(path)?
                .into_iter()
                .map(|name| (name.parse().unwrap_or_else(|_| PartnerId::generate()), name)),
        ),
    };
    let file = std::fs::File::open(&args.file)
        .map_err(|e| Failure(format!("opening {}: {e}", args.file.display())))?;
    let window = DateWindow::new(Utc::now().date_naive(), args.max_age_days);
    Ok((
        check_local(
            std::io::BufReader::new(file),
            args.kind,
            &profile,
            PartnerId::generate(),
            catalog.as_ref(),
            &resellers,
            window,
            true,
        ),
        catalog.is_some(),
    ))
}

pub fn check(args: CheckArgs, out: &Output) -> Result<(), Failure> {
    let (result, sku_checked) = run(&args)?;
    if let Some(path) = &args.rejects {
        std::fs::write(path, &result.report)
            .map_err(|e| Failure(format!("writing {}: {e}", path.display())))?;
    }
    out.show(&result, || {
        let mut text = String::new();
        if let Some(d) = &result.detected {
            text.push_str(&format!(
                "format: {}{}{}{}\n",
                d.format,
                if d.gzip { ", gzip" } else { "" },
                d.encoding.map(|e| format!(", {e}")).unwrap_or_default(),
                d.delimiter
                    .map(|c| format!(", delimiter {c:?}"))
                    .unwrap_or_default(),
            ));
            let columns: Vec<String> = result
                .columns
                .iter()
                .map(|(f, c)| format!("{f}=col {c}"))
                .collect();
            text.push_str(&format!("columns: {}\n", columns.join(", ")));
        }
        let c = &result.counts;
        text.push_str(&format!(
            "lines {}, accepted {}, rejected {}, duplicates {}, held {}{}\n",
            c.lines,
            c.accepted,
            c.rejected,
            c.duplicates,
            c.held,
            if sku_checked {
                ""
            } else {
                " (SKUs not checked: no --catalog)"
            }
        ));
        if let Some(reason) = &result.refused {
            text.push_str(&format!("REFUSED: {reason}\n"));
        }
        if args.rejects.is_none() && c.rejected > 0 {
            text.push('\n');
            text.push_str(&result.report);
        }
        text.trim_end().to_string()
    });
    if result.refused.is_some() {
        return Err(Failure("the file would be refused".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("chanctl-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn checks_a_file_with_a_profile_a_catalog_and_resellers() {
        let today = Utc::now().format("%d/%m/%Y");
        let file = write(
            "week.csv",
            &format!(
                "Inv|Ln|Date|Dealer|Item|Units|Price\nA|1|{today}|Northwind|NW-1|2|10,5\nA|2|{today}|Other|NW-9|1|1\n"
            ),
        );
        let profile = write(
            "profile.json",
            r#"{"columns": {"invoice_number": "Inv", "line_number": "Ln", "invoice_date": "Date", "reseller_name": "Dealer", "sku": "Item", "quantity": "Units", "unit_price": "Price"},
                "date_formats": ["%d/%m/%Y"], "decimal_separator": ",", "default_currency": "EUR"}"#,
        );
        let catalog = write("skus.txt", "NW-1\nNW-2\n");
        let resellers = write("resellers.txt", "Northwind\n");
        let args = CheckArgs {
            file,
            kind: FileKind::Pos,
            profile: Some(profile),
            catalog: Some(catalog),
            resellers: Some(resellers),
            max_age_days: 400,
            rejects: None,
        };
        let (result, sku_checked) = run(&args).unwrap();
        assert!(sku_checked);
        assert_eq!(result.detected.as_ref().unwrap().delimiter, Some('|'));
        assert_eq!(
            (
                result.counts.accepted,
                result.counts.rejected,
                result.counts.held
            ),
            (1, 1, 0)
        );
        assert_eq!(
            result.report,
            "row,field,value,reason\n3,sku,NW-9,not in the vendor's catalog\n"
        );
    }

    #[test]
    fn a_bad_profile_is_named() {
        let file = write("x.csv", "a\n");
        let profile = write("bad.json", r#"{"date_formats": ["%Q"]}"#);
        let args = CheckArgs {
            file,
            kind: FileKind::Pos,
            profile: Some(profile),
            catalog: None,
            resellers: None,
            max_age_days: 400,
            rejects: None,
        };
        let Err(Failure(message)) = run(&args) else {
            panic!("expected a failure")
        };
        assert!(message.contains("date_formats[0]"), "{message}");
    }
}

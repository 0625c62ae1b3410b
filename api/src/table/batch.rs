//! Printers of the `batch` group: upstream's printJob and printCronJob.

use serde_json::Value;

use super::docs;
use super::util::{arr, container_cells, deleting, format_label_selector, get, human_duration, int_at, name, opt_int, str_at, timestamp, Ctx};
use super::{Column, ColumnsFn, Printer, Row, RowFn};

pub(crate) fn printer(plural: &str) -> Option<Printer> {
    let (columns, row): (ColumnsFn, RowFn) = match plural {
        "jobs" => (job_columns, job_row),
        "cronjobs" => (cron_job_columns, cron_job_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

fn job_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Status", "Status of the job."),
        Column::string("Completions", docs::JOB_STATUS_SUCCEEDED),
        Column::string("Duration", "Time required to complete the job."),
        Column::age(),
        Column::string("Containers", "Names of each container in the template.").wide(),
        Column::string("Images", "Images referenced by each container in the template.").wide(),
        Column::string("Selector", docs::JOB_SPEC_SELECTOR).wide(),
    ]
}

/// `hasJobCondition`: whether the first condition of `ty` has status True.
fn has_condition(job: &Value, ty: &str) -> bool {
    arr(job, &["status", "conditions"]).iter().find(|c| str_at(c, &["type"]) == ty).is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if deleting(job) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn job_row(job: &Value, ctx: &Ctx) -> Row {
    let succeeded = int_at(job, &["status", "succeeded"]);
    let completions = match opt_int(job, &["spec", "completions"]) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match opt_int(job, &["spec", "parallelism"]).unwrap_or(0) {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (timestamp(job, &["status", "startTime"]), timestamp(job, &["status", "completionTime"])) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(ctx.now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let (names, images) = container_cells(arr(job, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        name(job).into(),
        job_status(job).into(),
        completions.into(),
        duration.into(),
        ctx.age(job),
        names,
        images,
        format_label_selector(get(job, &["spec", "selector"])).into(),
    ])
}

fn cron_job_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Schedule", docs::CRON_JOB_SPEC_SCHEDULE),
        Column::string("Timezone", docs::CRON_JOB_SPEC_TIME_ZONE),
        Column::new("Suspend", "boolean", docs::CRON_JOB_SPEC_SUSPEND),
        Column::integer("Active", docs::CRON_JOB_STATUS_ACTIVE),
        Column::string("Last Schedule", docs::CRON_JOB_STATUS_LAST_SCHEDULE),
        Column::age(),
        Column::string("Containers", "Names of each container in the template.").wide(),
        Column::string("Images", "Images referenced by each container in the template.").wide(),
        Column::string("Selector", docs::JOB_SPEC_SELECTOR).wide(),
    ]
}

fn cron_job_row(cj: &Value, ctx: &Ctx) -> Row {
    let last_schedule = match get(cj, &["status", "lastScheduleTime"]) {
        Some(_) => ctx.since(cj, &["status", "lastScheduleTime"]),
        None => "<none>".to_string(),
    };
    let time_zone = get(cj, &["spec", "timeZone"]).and_then(Value::as_str).unwrap_or("<none>");
    // printBoolPtr; defaulting sets suspend to false.
    let suspend = match get(cj, &["spec", "suspend"]).and_then(Value::as_bool) {
        Some(true) => "True",
        _ => "False",
    };
    let job_spec = get(cj, &["spec", "jobTemplate", "spec"]).unwrap_or(&Value::Null);
    let (names, images) = container_cells(arr(job_spec, &["template", "spec", "containers"]));
    Row::new(vec![
        name(cj).into(),
        str_at(cj, &["spec", "schedule"]).into(),
        time_zone.into(),
        suspend.into(),
        (arr(cj, &["status", "active"]).len() as i64).into(),
        last_schedule.into(),
        ctx.age(cj),
        names,
        images,
        format_label_selector(get(job_spec, &["selector"])).into(),
    ])
}

// Expectations from upstream's pkg/printers/internalversion/printers_test.go (TestPrintJob,
// TestPrintJobList, TestPrintCronJob).
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn at(offset_secs: i64) -> String {
        jiff::Timestamp::from_second(NOW + offset_secs).unwrap().to_string()
    }

    fn cells(row: RowFn, obj: Value) -> Vec<Value> {
        row(&obj, &Ctx::new(NOW)).cells
    }

    fn v(x: Value) -> Vec<Value> {
        x.as_array().unwrap().clone()
    }

    #[test]
    fn jobs() {
        let containers = json!([{"name": "fake-job-container1", "image": "fake-job-image1"},
                                {"name": "fake-job-container2", "image": "fake-job-image2"}]);
        let job = json!({"metadata": {"name": "job1", "creationTimestamp": at(1)},
            "spec": {"completions": 2, "template": {"spec": {"containers": containers}},
                     "selector": {"matchLabels": {"job-label": "job-label-value"}}},
            "status": {"succeeded": 1}});
        assert_eq!(
            cells(job_row, job),
            v(json!([
                "job1",
                "Running",
                "1/2",
                "",
                "0s",
                "fake-job-container1,fake-job-container2",
                "fake-job-image1,fake-job-image2",
                "job-label=job-label-value"
            ]))
        );

        let ten_years = at(-10 * 365 * 86400);
        let job = |status: Value| json!({"metadata": {"name": "j", "creationTimestamp": ten_years}, "status": status});
        assert_eq!(cells(job_row, job(json!({})))[1..5], v(json!(["Running", "0/1", "", "10y"]))[..]);
        assert_eq!(cells(job_row, job(json!({"startTime": at(60), "completionTime": at(31 * 60)})))[3], "30m");
        assert_eq!(cells(job_row, job(json!({"startTime": at(-20 * 60)})))[3], "20m");
        for (ty, want) in [
            ("Complete", "Complete"),
            ("Failed", "Failed"),
            ("Suspended", "Suspended"),
            ("FailureTarget", "FailureTarget"),
            ("SuccessCriteriaMet", "SuccessCriteriaMet"),
        ] {
            let j = job(json!({"conditions": [{"type": ty, "status": "True"}]}));
            assert_eq!(cells(job_row, j)[1], want);
        }
        let deleting = json!({"metadata": {"name": "job9", "deletionTimestamp": at(1)}});
        assert_eq!(cells(job_row, deleting)[1..3], v(json!(["Terminating", "0/1"]))[..]);
        let parallel = json!({"spec": {"parallelism": 3}, "status": {"succeeded": 2}});
        assert_eq!(cells(job_row, parallel)[2], "2/1 of 3");
    }

    #[test]
    fn cron_jobs() {
        let cj = json!({"metadata": {"name": "cronjob1", "creationTimestamp": at(1)},
            "spec": {"schedule": "0/5 * * * ?", "suspend": false, "jobTemplate": {"spec": {"completions": 2,
                "template": {"spec": {"containers": [{"name": "fake-job-container1", "image": "fake-job-image1"},
                                                     {"name": "fake-job-container2", "image": "fake-job-image2"}]}},
                "selector": {"matchLabels": {"a": "b"}}}}},
            "status": {"lastScheduleTime": at(1)}});
        assert_eq!(
            cells(cron_job_row, cj),
            v(json!([
                "cronjob1",
                "0/5 * * * ?",
                "<none>",
                "False",
                0,
                "0s",
                "0s",
                "fake-job-container1,fake-job-container2",
                "fake-job-image1,fake-job-image2",
                "a=b"
            ]))
        );

        let cj = json!({"metadata": {"name": "cronjob2", "creationTimestamp": at(-300)},
            "spec": {"schedule": "0/5 * * * ?", "timeZone": "LOCAL", "suspend": true},
            "status": {"lastScheduleTime": at(-30), "active": [{"name": "j1"}]}});
        assert_eq!(cells(cron_job_row, cj)[..7], v(json!(["cronjob2", "0/5 * * * ?", "LOCAL", "True", 1, "30s", "5m"]))[..]);
        let cj = json!({"metadata": {"name": "cronjob3", "creationTimestamp": at(-300)}, "spec": {"schedule": "@daily"}});
        assert_eq!(cells(cron_job_row, cj)[3..10], v(json!(["False", 0, "<none>", "5m", "", "", "<none>"]))[..]);
    }
}

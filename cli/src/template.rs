//! `hydrant template create|list|delete`: index templates, as Quickwit's.

use serde_json::json;

use crate::args::{IndexStorageArgs, ListOptions, OutputArgs, metastore, read_config};
use crate::output::table;

#[derive(Debug, clap::Subcommand)]
pub enum TemplateCommand {
    /// Create an index template (Quickwit's `template_id`, `index_id_patterns`, ...).
    ///
    /// A staging object routed to an index that does not exist yet and matches a template's
    /// patterns creates the index from the template on first sight.
    Create(CreateTemplateOptions),
    /// List the index templates, with their patterns and priorities.
    List(ListOptions),
    /// Delete an index template; the indexes created from it stay.
    Delete(DeleteTemplateOptions),
}

#[derive(Debug, clap::Args)]
pub struct CreateTemplateOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The template: YAML, JSON, or TOML (by its `.toml` extension).
    #[arg(long)]
    template_config: std::path::PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeleteTemplateOptions {
    #[command(flatten)]
    storage: IndexStorageArgs,
    /// The template id.
    #[arg(long)]
    template: String,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn template_command(command: TemplateCommand) -> anyhow::Result<()> {
    match command {
        TemplateCommand::Create(options) => create_template(options).await,
        TemplateCommand::List(options) => list_templates(options).await,
        TemplateCommand::Delete(options) => delete_template(options).await,
    }
}

async fn create_template(options: CreateTemplateOptions) -> anyhow::Result<()> {
    let text = read_config(&options.template_config)?;
    let template = hydrant_index::template::IndexTemplate::from_yaml(&text)?;
    let metastore = metastore(&options.storage).await?;
    let created = metastore.create_template(template).await?;
    options.output.print(&created, || {
        format!(
            "Created index template `{}` for {}.\n",
            created.template_id,
            created.index_id_patterns.join(", ")
        )
    })
}

async fn list_templates(options: ListOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    let templates = metastore.templates().await?;
    options.output.print(&templates, || {
        let rows: Vec<Vec<String>> = templates
            .iter()
            .map(|template| {
                vec![
                    template.template_id.clone(),
                    template.index_id_patterns.join(","),
                    template.priority.to_string(),
                    template.description.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let mut text = table(&["TEMPLATE", "PATTERNS", "PRIORITY", "DESCRIPTION"], &rows);
        text.push_str(&format!("{} templates\n", templates.len()));
        text
    })
}

async fn delete_template(options: DeleteTemplateOptions) -> anyhow::Result<()> {
    let metastore = metastore(&options.storage).await?;
    metastore.delete_template(&options.template).await?;
    options
        .output
        .print(&json!({"deleted": options.template}), || {
            format!("Deleted index template `{}`.\n", options.template)
        })
}

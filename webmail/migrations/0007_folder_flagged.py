from django.db import migrations, models


class Migration(migrations.Migration):
    """The flagged count per folder, kept by the sync like `unseen`: the unified Flagged
    count in every page's sidebar adds these up instead of counting rows."""

    dependencies = [
        ("webmail", "0006_undo"),
    ]

    operations = [
        migrations.AddField(
            model_name="folder",
            name="flagged",
            field=models.PositiveIntegerField(default=0),
        ),
        # Folders synced before this reads right at once, not after their next sync.
        migrations.RunSQL(
            "UPDATE webmail_folder SET flagged = (SELECT COUNT(*) FROM webmail_message"
            " WHERE webmail_message.folder_id = webmail_folder.id AND webmail_message.flagged)",
            migrations.RunSQL.noop,
        ),
    ]

"""Statement lines that finance settled by hand: who, when, how; and an index of those still waiting."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('backoffice', '0002_money_columns_hold_10_to_the_18'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='statementline',
            name='resolution',
            field=models.CharField(blank=True, help_text='How the line was settled, in a sentence', max_length=500),
        ),
        migrations.AddField(
            model_name='statementline',
            name='resolved_at',
            field=models.DateTimeField(blank=True, help_text='When finance settled this line', null=True),
        ),
        migrations.AddField(
            model_name='statementline',
            name='resolved_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='statementline',
            index=models.Index(condition=models.Q(models.Q(('outcome', 'MATCHED'), _negated=True), ('resolved_at__isnull', True)), fields=['id'], name='statement_line_unresolved'),
        ),
    ]

def test_status_reports_server(project):
    """`db status` connects to the test database and names its server version."""
    result = project.run("db", "status")
    assert result.code == 0, result
    assert "PostgreSQL" in result.out
